// A route per screen (the server answers index.html on each of these paths: http/ui.py). The
// first screens people land on are in the main bundle; the others load when first opened.
import {lazy, Suspense} from 'react';
import {createBrowserRouter, Navigate} from 'react-router-dom';
import {AppLayout} from 'src/components/AppLayout';
import {Loading} from 'src/components/Loading';
import {RepositoriesList} from 'src/routes/RepositoriesList';
import {SignIn} from 'src/routes/SignIn';

const named = <K extends string>(load: () => Promise<Record<K, React.ComponentType>>, name: K) =>
  lazy(() => load().then((m) => ({default: m[name]})));

const CreateAccount = named(() => import('src/routes/CreateAccount'), 'CreateAccount');
const NotFound = named(() => import('src/routes/NotFound'), 'NotFound');
const Organization = named(() => import('src/routes/Organization'), 'Organization');
const OrganizationsList = named(() => import('src/routes/OrganizationsList'), 'OrganizationsList');
const RepositoryDetails = named(() => import('src/routes/RepositoryDetails'), 'RepositoryDetails');
const Superuser = named(() => import('src/routes/Superuser'), 'Superuser');
const TagDetails = named(() => import('src/routes/TagDetails'), 'TagDetails');
const UserNamespace = named(() => import('src/routes/UserNamespace'), 'UserNamespace');

const later = (Screen: React.ComponentType) => (
  <Suspense fallback={<Loading />}>
    <Screen />
  </Suspense>
);

export const router = createBrowserRouter([
  {path: '/signin', element: <SignIn />},
  {path: '/createaccount', element: later(CreateAccount)},
  {
    element: <AppLayout />,
    children: [
      {path: '/', element: <Navigate to="/repository" replace />},
      {path: '/repository', element: <RepositoriesList />},
      {path: '/repository/:namespace/:name', element: later(RepositoryDetails)},
      {path: '/repository/:namespace/:name/tag/:tag', element: later(TagDetails)},
      {path: '/organization', element: later(OrganizationsList)},
      {path: '/organization/:name', element: later(Organization)},
      {path: '/user/:name', element: later(UserNamespace)},
      {path: '/superuser', element: later(Superuser)},
      {path: '*', element: later(NotFound)},
    ],
  },
]);
